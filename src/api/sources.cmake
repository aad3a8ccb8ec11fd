list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/machine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/topology_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/spec_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/safety_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/admin.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heap_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stats_api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heap_poison.cpp
  ${CMAKE_CURRENT_LIST_DIR}/known_bad.cpp
  ${CMAKE_CURRENT_LIST_DIR}/policy_check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tier_options.cpp
)
# bufferpool_api.cpp is the buffer pool's C ABI: compiled into tiermem_bufferpool
# (src/bufferpool/CMakeLists.txt), not into libtiermem, which must not depend on a front end.
list(APPEND TIERMEM_SOURCES ${CMAKE_CURRENT_LIST_DIR}/published_stats.cpp)
