/* Arguments, environment and the exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    const char *v = getenv("PYQEMU_TEST");
    printf("PYQEMU_TEST=%s\n", v ? v : "(unset)");
    return argc > 1 ? atoi(argv[argc - 1]) : 0;
}
