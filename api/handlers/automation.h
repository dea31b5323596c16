/* automation.h: the handlers of automation rules (automation.c). */
#ifndef SQ_H_AUTOMATION_H
#define SQ_H_AUTOMATION_H

#include "api/req.h"

void sq_h_rule_create(sq_req_t *req);
void sq_h_rule_update(sq_req_t *req);
void sq_h_rule_runs(sq_req_t *req);
void sq_h_rule_dry_run(sq_req_t *req);
void sq_h_rule_dry_run_saved(sq_req_t *req);

#endif
