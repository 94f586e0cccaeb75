# mpirun -np 2 ember-classify train on the bundled data: the test accuracy of one process
# (within 0.01), and one model, written by rank 0. Run by ctest with -DMPIEXEC=... -DCLASSIFY=...
# -DDATA=... -DDIR=... -P classifier_test.cmake
file(REMOVE_RECURSE ${DIR})
set(args train --train ${DATA}/train.tsv --test ${DATA}/test.tsv --epochs 2 --threads 1)
execute_process(COMMAND ${CLASSIFY} ${args} --out ${DIR}/one RESULT_VARIABLE rc1 OUTPUT_VARIABLE out1
                ERROR_VARIABLE err1 TIMEOUT 120)
execute_process(COMMAND ${MPIEXEC} --oversubscribe -np 2 ${CLASSIFY} ${args} --out ${DIR}/two
                RESULT_VARIABLE rc2 OUTPUT_VARIABLE out2 ERROR_VARIABLE err2 TIMEOUT 120)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "exit ${rc1} / ${rc2}:\n${out1}${err1}\n${out2}${err2}")
endif()
string(REGEX MATCHALL "test accuracy [0-9.]+" acc1 "${out1}")
string(REGEX MATCHALL "test accuracy [0-9.]+" acc2 "${out2}")
list(LENGTH acc2 reports)
if(NOT reports EQUAL 1)
  message(FATAL_ERROR "expected one test report (from rank 0), got ${reports}:\n${out2}")
endif()
string(REGEX REPLACE "test accuracy " "" a1 "${acc1}")
string(REGEX REPLACE "test accuracy " "" a2 "${acc2}")
message(STATUS "test accuracy: 1 process ${a1}, 2 ranks ${a2}")
# Printed with 4 decimals; cmake's math is integer, so compare in units of 1e-4.
string(REPLACE "." "" i1 "${a1}")
string(REPLACE "." "" i2 "${a2}")
math(EXPR diff "${i1} - ${i2}")
if(diff GREATER 100 OR diff LESS -100)
  message(FATAL_ERROR "2 ranks reach ${a2}, one process ${a1}")
endif()
if(NOT EXISTS ${DIR}/two/model.safetensors)
  message(FATAL_ERROR "no model written by the 2-rank run")
endif()
