// The heap opens dax devices below the safety layer, which reads their known bad blocks: the
// api layer connects the two (heap::set_bad_range_source).
#pragma once

namespace tiermem::api {

/** Gives the heap this machine's known bad blocks of every dax device it opens. Idempotent. */
void wire_known_bad_blocks() noexcept;

}  // namespace tiermem::api
