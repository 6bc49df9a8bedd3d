# The AVX-512 (F/VL/BW/DQ) kernel set; its flags apply to these sources only (see ../../../sources.cmake).
fastann_cpu_kernels(SOURCES microkernel_14x32.cpp X86_FLAGS -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma -mavx2)
