-- 0024_plugins.sql: per-plugin settings (plugins/host): whether the plugin is enabled and the values of its config
-- schema that staff set (defaults come from the manifest and are not stored). Secret fields are stored here like
-- the rest and never returned by the admin API; encrypting them at rest is a later step.
CREATE TABLE plugin_settings (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,47}$'),
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
