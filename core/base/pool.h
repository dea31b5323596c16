/* pool.h: a small pool of blocking worker threads for CPU-heavy work (password hashing, imports).
 * Results go back to the submitting event loop through the post function the loop provides. */
#ifndef SQ_POOL_H
#define SQ_POOL_H

typedef struct sq_pool sq_pool_t;
typedef struct sq_job sq_job_t;

struct sq_job {
    void (*work)(sq_job_t *job); /* runs on a pool thread: no loop state, no database */
    void (*done)(sq_job_t *job); /* runs back on the loop thread, via post */
    /* called on the pool thread after work; must hand the job to its loop, which then calls done */
    void (*post)(void *post_ctx, sq_job_t *job);
    void *post_ctx;
    void *data;
    sq_job_t *next;
};

/** Starts nthreads workers. */
sq_pool_t *sq_pool_new(int nthreads);
/** Queues a job (thread-safe). */
void sq_pool_submit(sq_pool_t *pool, sq_job_t *job);
/** Jobs queued or running (approximate, for /metrics). */
int sq_pool_depth(sq_pool_t *pool);

#endif
