/**
 * @file export.h
 * @brief TM_API: marks the functions and classes libtiermem exports (the library is built
 * with hidden visibility). Included by every public header.
 */
#ifndef TIERMEM_EXPORT_H
#define TIERMEM_EXPORT_H

#if defined(__GNUC__)
#define TM_API __attribute__((visibility("default")))
#else
#define TM_API
#endif

#endif /* TIERMEM_EXPORT_H */
