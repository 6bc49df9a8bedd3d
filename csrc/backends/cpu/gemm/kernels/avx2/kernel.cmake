# The AVX2 + FMA kernel set; its flags apply to these sources only (see ../../../sources.cmake).
fastann_cpu_kernels(SOURCES microkernel_6x16.cpp X86_FLAGS -mavx2 -mfma)
