# The policy layer: the one grammar (parse) and the per-request tier choice (Selector).
list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/policy.cpp
)
