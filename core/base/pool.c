/* pool.c: mutex + condition variable job queue served by detached worker threads. */
#include "core/base/pool.h"

#include <pthread.h>

#include "core/base/util.h"

struct sq_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sq_job_t *head, *tail;
    int depth;
};

static void *worker(void *arg)
{
    sq_pool_t *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL)
            pthread_cond_wait(&p->cv, &p->mu);
        sq_job_t *j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->work(j);
        __atomic_sub_fetch(&p->depth, 1, __ATOMIC_RELAXED);
        j->post(j->post_ctx, j);
    }
    return NULL;
}

sq_pool_t *sq_pool_new(int nthreads)
{
    sq_pool_t *p = sq_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < nthreads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, worker, p);
        pthread_detach(t);
    }
    return p;
}

void sq_pool_submit(sq_pool_t *p, sq_job_t *job)
{
    job->next = NULL;
    __atomic_add_fetch(&p->depth, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int sq_pool_depth(sq_pool_t *p)
{
    return __atomic_load_n(&p->depth, __ATOMIC_RELAXED);
}
