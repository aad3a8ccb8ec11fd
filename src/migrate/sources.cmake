# The migrate layer: moving a range's pages to other memory under the same address (write
# fences, copy and remap, move_pages), the mechanisms a migrating tier is built from.
# Uses platform and safety.
list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/faults.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fence.cpp
  ${CMAKE_CURRENT_LIST_DIR}/move.cpp
  ${CMAKE_CURRENT_LIST_DIR}/track.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine.cpp
)
