/* main.c: postad entry point: options, startup order, exit */
#include "config.h"
int main(void) { return 0; }
