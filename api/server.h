/* server.h: `souq serve`: preflight checks, N loop threads, signals (TERM drains, HUP reloads). */
#ifndef SQ_SERVER_H
#define SQ_SERVER_H

/** Runs the server until SIGTERM/SIGINT; returns the process exit code. config_path may be NULL. */
int sq_serve(const char *config_path);

/** This process's name in leases it takes (outbox deliveries, jobs): host:pid:random, made once. */
const char *sq_node_id(void);

#endif
