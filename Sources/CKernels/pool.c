// A persistent thread pool for the short parallel regions of decoding (see mk_parallel_for in
// include/mk_kernels.h). A dispatch costs about a microsecond while the workers are awake (they
// poll for about 100 µs after each job, then sleep on a condition variable), where waking
// sleeping threads for every matrix-vector product costs tens of microseconds.
//
// Protocol: the caller publishes a job (function, context, task count) and bumps `generation`
// (release); each worker that sees a new generation (acquire) claims tasks through `next`, then
// acknowledges the generation. The caller claims tasks too, then waits until every task is done
// and every worker has acknowledged, so no worker touches the job after the call returns.
#include "mk_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#else
#define RELAX() ((void)0)
#endif

#define MAX_WORKERS 255
#define SPIN_NANOSECONDS 100000L

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;   // one job at a time; a second caller runs its tasks itself
    pthread_mutex_t lock;   // guards the sleep
    pthread_cond_t wake;
    int workers;            // threads besides the caller
    atomic_ulong generation;
    atomic_int sleeping;
    atomic_ulong acknowledged[MAX_WORKERS];
    // The job, written before `generation` is bumped.
    mk_task_fn fn;
    void *ctx;
    long tasks;
    atomic_long next;
    atomic_long done;
} pool = {.once = PTHREAD_ONCE_INIT, .busy = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int inside_task;  // a task that calls mk_parallel_for runs the inner loop itself

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run_tasks(void) {
    inside_task = 1;
    for (;;) {
        long i = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (i >= pool.tasks) break;
        pool.fn(pool.ctx, i);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
    inside_task = 0;
}

static void *worker(void *arg) {
    long w = (long)arg;
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (g == seen) {
            long start = now_ns();
            for (int spins = 0; (g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen; spins++) {
                RELAX();
                if ((spins & 255) == 255 && now_ns() - start > SPIN_NANOSECONDS) {
                    pthread_mutex_lock(&pool.lock);
                    atomic_fetch_add(&pool.sleeping, 1);
                    while ((g = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                    atomic_fetch_sub(&pool.sleeping, 1);
                    pthread_mutex_unlock(&pool.lock);
                    break;
                }
            }
        }
        seen = g;
        run_tasks();
        atomic_store_explicit(&pool.acknowledged[w], seen, memory_order_release);
    }
    return NULL;
}

static void start_pool(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    // Ranks of an MPI job on one machine share its cores.
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (local && atoi(local) > 1) cores = cores / atoi(local) > 0 ? cores / atoi(local) : 1;
    const char *forced = getenv("MLLM_CL_THREADS");
    if (forced && atoi(forced) > 0) cores = atoi(forced);
    int workers = cores > 1 ? (int)(cores - 1) : 0;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    for (int w = 0; w < workers; w++) {
        pthread_t t;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attributes, worker, (void *)(long)pool.workers) == 0) pool.workers++;
        pthread_attr_destroy(&attributes);
    }
}

int mk_parallel_threads(void) {
    pthread_once(&pool.once, start_pool);
    return pool.workers + 1;
}

void mk_parallel_for(long tasks, mk_task_fn fn, void *ctx) {
    pthread_once(&pool.once, start_pool);
    if (tasks <= 1 || pool.workers == 0 || inside_task || pthread_mutex_trylock(&pool.busy) != 0) {
        for (long i = 0; i < tasks; i++) fn(ctx, i);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.tasks = tasks;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    // seq_cst against the worker's sleeping++ then re-check: one of the two sees the other's write.
    unsigned long g = atomic_fetch_add(&pool.generation, 1) + 1;
    if (atomic_load(&pool.sleeping) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_tasks();
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < tasks) RELAX();
    for (int w = 0; w < pool.workers; w++)
        while (atomic_load_explicit(&pool.acknowledged[w], memory_order_acquire) != g) RELAX();
    pthread_mutex_unlock(&pool.busy);
}
