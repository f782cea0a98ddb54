// CZlib: the system zlib (Debian `zlib1g-dev`) for Swift.
//
// `deflateInit2` and `inflateInit2` are macros (they pass the library version and the stream
// size), which Swift cannot call; these `static inline` functions wrap them.
#ifndef CZLIB_H
#define CZLIB_H

#include <zlib.h>

/// deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, strategy).
/// `windowBits` 15 + 16 writes a gzip member (RFC 1952) instead of a zlib stream.
static inline int czlib_deflateInit2(z_streamp stream, int level, int windowBits, int memLevel, int strategy) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, strategy);
}

/// inflateInit2(stream, windowBits); 15 + 32 reads zlib or gzip, detecting which.
static inline int czlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
