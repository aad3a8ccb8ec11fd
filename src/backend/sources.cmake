# The backend layer: where a tier's pages come from (one backend = one extent hook table).
list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lock.cpp
  ${CMAKE_CURRENT_LIST_DIR}/node.cpp
  ${CMAKE_CURRENT_LIST_DIR}/devdax.cpp
  ${CMAKE_CURRENT_LIST_DIR}/emulated.cpp
  ${CMAKE_CURRENT_LIST_DIR}/shared_mapping.cpp
)
