-- Control-plane changes reach every instance sharing this database at once: each write to
-- a table that instances cache or act on sends NOTIFY spillway_control '<table>' (delivered
-- at commit, collapsed within a transaction). Instances LISTEN and refresh what they hold
-- (crates/store/src/changes.rs, crates/server/src/control_events.rs). PostgreSQL only:
-- the SQLite store serves one instance.
CREATE OR REPLACE FUNCTION spillway_notify_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('spillway_control', TG_TABLE_NAME);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER app_profiles_changed AFTER INSERT OR UPDATE OR DELETE ON app_profiles
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER tags_changed AFTER INSERT OR UPDATE OR DELETE ON tags
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER logging_configs_changed AFTER INSERT OR UPDATE OR DELETE ON logging_configs
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER prompts_changed AFTER INSERT OR UPDATE OR DELETE ON prompts
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER prompt_versions_changed AFTER INSERT OR UPDATE OR DELETE ON prompt_versions
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
-- Not on the per-second billing writes (they set only billed_until).
CREATE TRIGGER provisioned_models_changed
  AFTER INSERT OR DELETE OR UPDATE OF name, model_arn, desired_model_arn, model_units, desired_model_units, status
  ON provisioned_models FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER imported_models_changed AFTER INSERT OR UPDATE OR DELETE ON imported_models
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
CREATE TRIGGER model_import_jobs_changed AFTER INSERT OR UPDATE OR DELETE ON model_import_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION spillway_notify_change();
