# mpirun -np 2 ember-lm train and finetune-classify against one process with the same global
# batch: the losses in history.csv, and the perplexity of the written model, agree to 1e-4
# (relative; the two sum a batch's gradient in different orders, so not bit for bit); rank 0
# alone reports and writes; the loss falls. Run by ctest with -DMPIEXEC=... -DLM=... -DTEXT=...
# -DBERT=... -DDIR=... -P lm_test.cmake
file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR})

# Runs the command once alone and once under mpirun -np 2; OUT_ONE and OUT_TWO get the output.
function(run_both)
  execute_process(COMMAND ${LM} ${ARGN} --out ${DIR}/one RESULT_VARIABLE rc1 OUTPUT_VARIABLE out1
                  ERROR_VARIABLE out1 TIMEOUT 60)
  execute_process(COMMAND ${MPIEXEC} --oversubscribe -np 2 ${LM} ${ARGN} --out ${DIR}/two
                  RESULT_VARIABLE rc2 OUTPUT_VARIABLE out2 ERROR_VARIABLE out2 TIMEOUT 60)
  if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc1} / ${rc2}:\n${out1}\n${out2}")
  endif()
  set(OUT_ONE "${out1}" PARENT_SCOPE)
  set(OUT_TWO "${out2}" PARENT_SCOPE)
endfunction()

# A decimal ("4.94191", "0.0434783") as an integer in units of 1e-9: cmake's math is integer.
function(nano value out)
  if(NOT value MATCHES "^([0-9]+)\\.?([0-9]*)$")
    message(FATAL_ERROR "not a plain decimal: '${value}'")
  endif()
  set(whole "${CMAKE_MATCH_1}")
  set(fraction "${CMAKE_MATCH_2}000000000")
  string(SUBSTRING "${fraction}" 0 9 fraction)
  string(REGEX REPLACE "^0+([0-9])" "\\1" fraction "${fraction}")
  math(EXPR n "${whole} * 1000000000 + ${fraction}")
  set(${out} ${n} PARENT_SCOPE)
endfunction()

function(expect_close what a b)
  nano(${a} x)
  nano(${b} y)
  math(EXPR diff "${x} - ${y}")
  if(diff LESS 0)
    math(EXPR diff "-${diff}")
  endif()
  math(EXPR scaled "${diff} * 10000")
  if(scaled GREATER x)
    message(FATAL_ERROR "${what}: one process ${a}, 2 ranks ${b} (more than 1e-4 apart)")
  endif()
endfunction()

function(count_matches pattern text expected)
  string(REGEX MATCHALL "${pattern}" found "${text}")
  list(LENGTH found n)
  if(NOT n EQUAL expected)
    message(FATAL_ERROR "expected '${pattern}' ${expected} times (rank 0 alone), got ${n}:\n${text}")
  endif()
endfunction()

# Every number of history.csv but the seconds (the last column).
function(compare_history what)
  file(STRINGS ${DIR}/one/history.csv one)
  file(STRINGS ${DIR}/two/history.csv two)
  list(LENGTH one rows)
  list(LENGTH two rows2)
  if(NOT rows EQUAL rows2 OR rows LESS 3)
    message(FATAL_ERROR "${what}: history.csv has ${rows} and ${rows2} lines")
  endif()
  math(EXPR last "${rows} - 1")
  foreach(i RANGE 1 ${last})
    list(GET one ${i} r1)
    list(GET two ${i} r2)
    string(REPLACE "," ";" r1 "${r1}")
    string(REPLACE "," ";" r2 "${r2}")
    foreach(col 1 2 3 4)
      list(GET r1 ${col} a)
      list(GET r2 ${col} b)
      expect_close("${what}, history.csv line ${i} column ${col}" ${a} ${b})
    endforeach()
  endforeach()
  # The loss falls from the first epoch to the last (train_loss, column 1).
  list(GET two 1 first)
  list(GET two ${last} final)
  string(REPLACE "," ";" first "${first}")
  string(REPLACE "," ";" final "${final}")
  list(GET first 1 l1)
  list(GET final 1 l2)
  nano(${l1} n1)
  nano(${l2} n2)
  if(NOT n2 LESS n1)
    message(FATAL_ERROR "${what}: the training loss did not fall (${l1} -> ${l2})")
  endif()
  message(STATUS "${what}: training loss ${l1} -> ${l2}, history.csv of 1 process and 2 ranks "
                 "within 1e-4")
endfunction()

# A global batch of 5 blocks: ranks take 2 and 3, so the loss weighting by share is exercised.
run_both(train --text ${TEXT} --vocab-size 300 --layers 1 --dim 32 --heads 2 --context 24
         --batch 5 --epochs 3 --seed 1)
count_matches("data-parallel on 2 ranks: each takes its share of every batch of 5" "${OUT_TWO}" 1)
count_matches("saved [^\n]*two" "${OUT_TWO}" 1)
count_matches("trained a byte-level BPE tokenizer" "${OUT_TWO}" 1)
compare_history("ember-lm train")
# The model rank 0 wrote is the one trained on both ranks' shards: its perplexity is one
# process's.
foreach(run one two)
  execute_process(COMMAND ${LM} eval --model ${DIR}/${run} --text ${TEXT} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 60)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "perplexity ([0-9.]+) ")
    message(FATAL_ERROR "eval --model ${DIR}/${run}: exit ${rc}\n${out}")
  endif()
  set(ppl_${run} ${CMAKE_MATCH_1})
endforeach()
expect_close("ember-lm eval of the written model" ${ppl_one} ${ppl_two})
message(STATUS "perplexity of the written model: 1 process ${ppl_one}, 2 ranks ${ppl_two}")

file(REMOVE_RECURSE ${DIR}/one ${DIR}/two)
set(rows "")
foreach(i RANGE 5)
  string(APPEND rows "pos\tgood good good !\nneg\tbad bad bad .\nmixed\tgood bad .\n")
endforeach()
file(WRITE ${DIR}/cls.tsv "${rows}")
run_both(finetune-classify --model ${BERT} --train ${DIR}/cls.tsv --valid ${DIR}/cls.tsv
         --epochs 3 --batch 7 --lr 3e-3 --seed 2)
count_matches("data-parallel on 2 ranks" "${OUT_TWO}" 1)
count_matches("saved [^\n]*two" "${OUT_TWO}" 1)
compare_history("ember-lm finetune-classify")
