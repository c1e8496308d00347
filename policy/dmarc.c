#include "config.h"

#include "dmarc.h"
