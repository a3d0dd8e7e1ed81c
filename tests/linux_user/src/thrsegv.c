/* A thread dereferences a bad pointer with no handler installed: the whole
   process dies of SIGSEGV. */
#include <pthread.h>
#include <stdio.h>
static void *w(void *a) { *(volatile int *)16 = 1; return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, w, 0); pthread_join(t, 0); puts("no"); return 0; }
