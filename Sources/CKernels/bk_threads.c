// The runtime's persistent thread pool. A job is published by bumping the generation in `state`; workers spin on it for
// a short while (the token loop issues jobs microseconds apart), then sleep on a condition variable so an idle pool
// costs nothing. On a busy machine a worker may not get a core in time: so a worker must *join* a job before the caller
// *closes* it (one atomic word holds generation, joined count and the closed bit), the caller does whatever work is
// left itself, and then waits only for the workers that joined. Jobs therefore hand out their work dynamically (an
// atomic counter in the job), never by thread index; `ith` only selects per-thread scratch.
#include "bk_matmul.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define BK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define BK_PAUSE() __asm__ __volatile__("yield")
#else
#define BK_PAUSE() ((void)0)
#endif

// Why: long enough to cover the gaps between the jobs of one token, short enough not to burn a shared core when idle.
#define BK_SPIN_NS 1000000ll
#define BK_MAX_THREADS 256

typedef struct {
    bk_pool *pool;
    int ith;
} worker_arg;

struct bk_pool {
    int n;
    pthread_t *threads;
    worker_arg *args;
    _Atomic uint64_t state;   // generation << 32 | closed << 31 | joined
    _Atomic int finished;     // joined workers that have returned from fn
    _Atomic int sleepers;
    _Atomic int stop;
    bk_task_fn fn;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

#define CLOSED ((uint64_t)1 << 31)
#define JOINED_MASK (CLOSED - 1)

static uint32_t generation_of(uint64_t state) { return (uint32_t)(state >> 32); }

static uint64_t wait_for_generation(bk_pool *p, uint32_t seen) {
    long long start = now_ns();
    for (unsigned spins = 1;; spins++) {
        uint64_t st = atomic_load_explicit(&p->state, memory_order_acquire);
        if (generation_of(st) != seen) return st;
        BK_PAUSE();
        if ((spins & 255) == 0) {
            sched_yield();  // a busy machine may have put us on the caller's core: let it run
            if (now_ns() - start > BK_SPIN_NS) break;
        }
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t st;
    while (generation_of(st = atomic_load(&p->state)) == seen) pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return st;
}

static void *worker_main(void *arg) {
    worker_arg *a = arg;
    bk_pool *p = a->pool;
    uint32_t seen = 0;
    for (;;) {
        uint64_t st = wait_for_generation(p, seen);
        seen = generation_of(st);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        int joined = 0;
        while (generation_of(st) == seen && !(st & CLOSED)) {
            if (atomic_compare_exchange_weak_explicit(&p->state, &st, st + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                joined = 1;
                break;
            }
        }
        if (!joined) continue;  // closed already: the caller did the work
        p->fn(p->ctx, a->ith, p->n);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

bk_pool *bk_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > BK_MAX_THREADS) n_threads = BK_MAX_THREADS;
    bk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    atomic_init(&p->state, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    p->args = calloc((size_t)n_threads, sizeof(worker_arg));
    if (!p->threads || !p->args) {
        free(p->threads);
        free(p->args);
        free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        p->args[i] = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            p->n = i;  // the workers started so far are shut down by destroy
            bk_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

int bk_pool_size(const bk_pool *pool) { return pool ? pool->n : 1; }

static void publish(bk_pool *p) {
    uint64_t next = (uint64_t)(generation_of(atomic_load(&p->state)) + 1) << 32;
    atomic_store(&p->state, next);  // seq_cst: pairs with the sleepers count (no lost wake-up)
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

void bk_pool_run(bk_pool *p, bk_task_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;  // no worker reads these now: the previous job is closed and its joined workers have finished
    p->ctx = ctx;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    publish(p);
    fn(ctx, 0, p->n);
    uint64_t joined = atomic_fetch_or(&p->state, CLOSED) & JOINED_MASK;
    for (unsigned spins = 1; (uint64_t)atomic_load_explicit(&p->finished, memory_order_acquire) != joined; spins++) {
        BK_PAUSE();
        if ((spins & 255) == 0) sched_yield();  // a joined worker was preempted: let it run
    }
}

void bk_pool_destroy(bk_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    publish(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->args);
    free(p);
}
