-- 0049_plugin_settings_notify.sql: a change of a plugin's settings reaches every node when it commits. Before, the
-- node that took the PATCH applied it at once and the others only at their next reload (SIGHUP or POST
-- /v1/admin/plugins/reload), so for a while one node ran a plugin disabled, or with the old credentials, that another
-- ran enabled. Now an insert or update of plugin_settings (the API's, or SQL by hand) sends NOTIFY souq
-- 'plugin_settings', and thread 0 of every node reads the settings and applies them (api/server.c). A node keeps the
-- newest setting of each plugin by updated_at, so a notification racing a reload or the PATCH's own answer changes
-- nothing twice. (A row deleted by hand, which the API never does, still takes a reload.)
CREATE FUNCTION souq_plugin_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('souq', 'plugin_settings');
    RETURN NULL;
END $$;
CREATE TRIGGER plugin_settings_changed AFTER INSERT OR UPDATE ON plugin_settings
    FOR EACH STATEMENT EXECUTE FUNCTION souq_plugin_settings_changed();
