-- 0025_cart_merge_gift_cards.sql: when a customer's previous cart is merged into the cart they attach on login
-- (souq_cart_attach, 0016), the gift cards applied to the previous cart come along: they are the customer's
-- money, and losing them silently would be a surprise. Promotion codes do not: the cart in hand keeps its own
-- codes (a code of an old session may no longer apply, and a code that gives nothing blocks checkout).
CREATE FUNCTION souq_cart_merged_gift_cards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cart_gift_cards (cart_id, gift_card_id)
    SELECT NEW.merged_into, g.gift_card_id FROM cart_gift_cards g WHERE g.cart_id = NEW.id
    ON CONFLICT DO NOTHING;
    DELETE FROM cart_gift_cards WHERE cart_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER carts_merged_gift_cards AFTER UPDATE OF merged_at ON carts
    FOR EACH ROW WHEN (OLD.merged_at IS NULL AND NEW.merged_at IS NOT NULL AND NEW.merged_into IS NOT NULL)
    EXECUTE FUNCTION souq_cart_merged_gift_cards();
