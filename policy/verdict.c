#include "config.h"

#include "verdict.h"
