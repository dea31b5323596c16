/* purchasing.h: handlers of purchase orders beyond their resource CRUD (purchasing.c): send, cancel, receive, export. */
#ifndef SQ_HANDLERS_PURCHASING_H
#define SQ_HANDLERS_PURCHASING_H

#include "api/req.h"

void sq_h_po_send(sq_req_t *req);
void sq_h_po_cancel(sq_req_t *req);
/** Requires Idempotency-Key (400 without): the receipt is stored with its key in the receipt's transaction. */
void sq_h_po_receive(sq_req_t *req);
void sq_h_export_purchase_orders(sq_req_t *req);

#endif
