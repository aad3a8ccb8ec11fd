# cmake -DAR=ar -DTARGET_ARCHIVE=libtiermem.a -DEXTRA_ARCHIVE=libx.a -P merge_archive.cmake
# Appends every member of EXTRA_ARCHIVE to TARGET_ARCHIVE (GNU ar's MRI script mode).
get_filename_component(_dir ${TARGET_ARCHIVE} DIRECTORY)
set(_script ${_dir}/merge-archive.mri)
file(WRITE ${_script} "OPEN ${TARGET_ARCHIVE}\nADDLIB ${EXTRA_ARCHIVE}\nSAVE\nEND\n")
execute_process(COMMAND ${AR} -M INPUT_FILE ${_script} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "merging ${EXTRA_ARCHIVE} into ${TARGET_ARCHIVE} failed (${rc})")
endif()
