/* pthread_kill to a thread blocked in a system call (sleeping on a
   condition variable): its handler runs, and it carries on. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile int hits, go, waiting;
static volatile pthread_t handled_by;
static void on_usr1(int s) { hits++; handled_by = pthread_self(); }
static void *worker(void *arg) {
    pthread_mutex_lock(&m);
    waiting = 1;
    while (!go) pthread_cond_wait(&cv, &m);
    pthread_mutex_unlock(&m);
    return NULL;
}
int main(void) {
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    while (!waiting) usleep(1000);
    usleep(100000);
    pthread_kill(t, SIGUSR1);
    for (int i = 0; i < 500 && !hits; i++) usleep(10000);
    printf("hits=%d in worker=%d\n", hits, pthread_equal(handled_by, t));
    pthread_mutex_lock(&m);
    go = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&m);
    pthread_join(t, NULL);
    puts("joined");
    return 0;
}
