// zlib from the system (Debian: zlib1g-dev), used by the IDX reader for .gz files.
#include <zlib.h>
