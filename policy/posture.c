#include "config.h"

#include "posture.h"
