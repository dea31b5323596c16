/* tax_commit.h: recording placed orders' tax with the tax plugin that computed it (migrations/0040, README "Tax
 * recording"). Checkout's transaction enqueues a durable tax.commit job when the order's tax came from a plugin with
 * tax_commit; a cancel enqueues tax.void and a succeeded refund tax.refund. The jobs call the plugin named on the
 * order (orders.tax_provider) through sq_tax_plugins->record, with the order id as the idempotency key. */
#ifndef SQ_TAX_COMMIT_H
#define SQ_TAX_COMMIT_H

/** Registers the "tax.commit", "tax.void" and "tax.refund" job kinds (before the server starts its threads). */
void sq_tax_commit_register(void);

#endif
