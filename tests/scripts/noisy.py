"""Writes about 1 MB of awkward output to stdout: \r redraws, invalid UTF-8, a long line.

argv: LINES. Each normal line is 'line N ' + padding; every 10th line is drawn with three \r redraws
(only 'line N done' must remain); every 7th carries invalid UTF-8 bytes.
"""
import os
import sys

n = int(sys.argv[1])
out = []
for i in range(n):
    if i % 10 == 0:
        out.append(f"line {i} 10%\rline {i} 50%\rline {i} 99%\rline {i} done\n".encode())
    elif i % 7 == 0:
        out.append(f"line {i} bad ".encode() + b"\xff\xfe\xc3(" + b" end\n")
    else:
        out.append(f"line {i} ".encode() + b"x" * 90 + b"\n")
data = b"".join(out)
view = memoryview(data)
while view:
    written = os.write(1, view[:65536])
    view = view[written:]
