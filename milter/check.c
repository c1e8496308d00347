#include "config.h"

#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "mailposture-check: not built yet\n");
	return 2;
}
