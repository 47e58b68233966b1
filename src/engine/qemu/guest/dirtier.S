# The lab guests' kernel: a multiboot image that QEMU loads with `-kernel` and that dirties guest
# memory at a set rate, so that live migrations do real pre-copy work (several passes, a real
# switchover, auto-converge). The rate in pages per second is the last number of the kernel command
# line (`-append N`); 0 halts the CPU for good (an idle guest).
#
# At boot it writes to every page above 2 MiB once, so the guest's RAM is in use like a booted OS's.
# Between timer ticks (the PIT reprogrammed to HZ) the CPU sleeps in `hlt`, so a dozen guests cost
# little host CPU. Each tick adds N to an accumulator and touches one 4 KiB page per HZ of credit,
# walking round-robin from 2 MiB to the end of RAM (above the kernel and the multiboot data).
#
# The bytes are embedded in ../guest-kernel.ts; after changing this file, rebuild them with
#   as --32 -o /tmp/dirtier.o dirtier.S && ld -m elf_i386 -Ttext=0 --oformat binary -o /tmp/dirtier.bin /tmp/dirtier.o
#   base64 -w0 /tmp/dirtier.bin
# (guest-kernel.spec.ts checks they match when binutils are installed).
    .intel_syntax noprefix
    .code32
    .set BASE, 0x100000          # where QEMU's multiboot loader puts the image (load_addr)
    .set IDT, 0x10000
    .set BOOTED, 0x10800         # just above the IDT
    .set DIRTY_FROM, 0x200000
    .set HZ, 100
    .globl _start
_start:
header:                          # multiboot header, "a.out kludge" (flag 16): a flat binary
    .long 0x1BADB002
    .long 0x00010002             # want memory info, addresses below are valid
    .long -(0x1BADB002 + 0x00010002)
    .long BASE + (header - _start)
    .long BASE
    .long BASE + (end - _start)
    .long 0
    .long BASE + (entry - _start)
entry:                           # ebx: multiboot information
    cli
    mov esp, 0x90000
    xor ebp, ebp                 # ebp: pages per second, the last number of the command line
    test byte ptr [ebx], 4
    jz 2f
    mov esi, [ebx + 16]          # QEMU passes "<kernel path> <append>"
1:  movzx eax, byte ptr [esi]
    inc esi
    test eax, eax
    jz 2f
    sub eax, '0'
    cmp eax, 9
    ja 5f
    imul ebp, ebp, 10
    add ebp, eax
    jmp 1b
5:  xor ebp, ebp
    jmp 1b
2:  mov edx, [ebx + 8]           # edx: end of RAM = 1 MiB + mem_upper KiB
    shl edx, 10
    add edx, 0x100000
    and edx, 0xFFFFF000
    mov edi, DIRTY_FROM          # use all the memory once, as a booted OS would: a zero page
6:  mov [edi], edi               # costs a migration nothing, a used one costs 4 KiB
    add edi, 4096
    cmp edi, edx
    jb 6b
    mov dword ptr [BOOTED], 0x544F4F42  # "BOOT": the lab waits for this before calling the guest started
    test ebp, ebp
    jz idle
    mov edi, IDT                 # every vector -> tick (only IRQ0 is unmasked below)
    mov eax, BASE + (tick - _start)
    mov ecx, cs
    shl ecx, 16
    mov cx, ax
    mov ax, 0x8E00
    mov esi, 256
3:  mov [edi], ecx
    mov [edi + 4], eax
    add edi, 8
    dec esi
    jnz 3b
    lidt [BASE + (idtr - _start)]
    mov al, 0x34                 # PIT channel 0, rate generator
    out 0x43, al
    mov al, (1193182 / HZ) & 0xFF
    out 0x40, al
    mov al, (1193182 / HZ) >> 8
    out 0x40, al
    mov al, 0xFE                 # PIC: timer only
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    xor ecx, ecx                 # ecx: credit in pages * HZ
    mov edi, DIRTY_FROM
wait:
    sti
    hlt
    cli
    add ecx, ebp
4:  cmp ecx, HZ
    jb wait
    sub ecx, HZ
    inc dword ptr [edi]
    add edi, 4096
    cmp edi, edx
    jb 4b
    mov edi, DIRTY_FROM
    jmp 4b
idle:
    hlt
    jmp idle
tick:
    push eax
    mov al, 0x20                 # end of interrupt
    out 0x20, al
    pop eax
    iret
idtr:
    .word 256 * 8 - 1
    .long IDT
end:
