list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/machine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/settings.cpp
  ${CMAKE_CURRENT_LIST_DIR}/topology_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/spec_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/safety_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/admin.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heap_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stats_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heap_poison.cpp
  ${CMAKE_CURRENT_LIST_DIR}/known_bad.cpp
  ${CMAKE_CURRENT_LIST_DIR}/policy_check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/migration.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tier_options.cpp
)
# The buffer pool's C ABI is not here: it wraps a front end (tiermem::BufferPool), so it lives
# and is compiled with it (src/bufferpool/c_api.cpp); libtiermem must not depend on a front end.
list(APPEND TIERMEM_SOURCES ${CMAKE_CURRENT_LIST_DIR}/published_stats.cpp)
