/* client/pool: worker threads over one FIFO of intrusive tasks, and
 * batches (see pool_internal.h).
 */
#include "client/pool_internal.h"

#include <errno.h>
#include <stdbool.h>

#include "mem/mem.h"

struct wfs_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wfs_task *head, *tail;	/* protected by lock */
	bool stopping;			/* protected by lock */
	unsigned nthreads;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct wfs_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct wfs_task *t = p->head;

		if (!t) {
			if (p->stopping)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		p->head = t->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		t->fn(t);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void stop(struct wfs_pool *p, unsigned started)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(p->threads[i], NULL);
}

int wfs_pool_new(unsigned nthreads, struct wfs_pool **out)
{
	struct wfs_pool *p;
	int rc;

	*out = NULL;
	if (nthreads == 0)
		return -EINVAL;
	p = wfs_calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		rc = pthread_create(&p->threads[i], NULL, worker, p);
		if (rc) {
			stop(p, i);
			goto out_free;
		}
	}
	p->nthreads = nthreads;
	*out = p;
	return 0;

out_free:
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	wfs_free(p);
	return -rc;
}

void wfs_pool_free(struct wfs_pool *p)
{
	if (!p)
		return;
	stop(p, p->nthreads);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	wfs_free(p);
}

void wfs_pool_submit(struct wfs_pool *p, struct wfs_task *t, wfs_task_fn fn)
{
	t->fn = fn;
	t->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void wfs_batch_init(struct wfs_batch *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->pending = 0;
}

void wfs_batch_release(struct wfs_batch *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

void wfs_batch_add(struct wfs_batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->pending++;
	pthread_mutex_unlock(&b->lock);
}

void wfs_batch_done(struct wfs_batch *b)
{
	pthread_mutex_lock(&b->lock);
	if (--b->pending == 0)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void wfs_batch_wait(struct wfs_batch *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->pending)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}
