-- 0048_job_lease_renewal.sql: a runner renews the leases of the jobs it is running (api/jobs_runner.c, every third of
-- jobs_lease_ms). Before, a lease was set once when the job was claimed, and a step that waited longer than
-- jobs_lease_ms lost its job: another runner (or the same one, at its next poll) took it as a dead node's and ran it
-- again while the first attempt was still running. The configuration bounds what it can (automation's webhooks:
-- jobs_lease_ms must exceed webhook_timeout_ms), but a plugin's background call may wait up to its own
-- limits.background_deadline_ms (up to 10 minutes, against a 5-minute lease): a run_plugin_action or a tax commit
-- could run twice. A dead node renews nothing, so its leases still run out and its jobs are taken as before.
-- Renewed only for the node that holds the job, while it runs (a job canceled meanwhile, or taken over, is left alone).
CREATE FUNCTION souq_jobs_renew(p_node text, p_ids text[], p_lease_ms int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    UPDATE jobs j SET locked_until = now() + p_lease_ms * interval '1 millisecond'
     WHERE j.id = ANY (p_ids) AND j.state = 'running' AND j.locked_by = p_node;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
