#!/bin/bash
# Starts grandchildren that leave the step's process tree: one in its own session (setsid), one
# ignoring SIGHUP (nohup) in the background, and a double-forked one. Writes their pids to $1, then waits.
out=$1
setsid sleep 1000 >/dev/null 2>&1 < /dev/null &
echo "setsid $!" >> "$out"
nohup sleep 1001 >/dev/null 2>&1 &
echo "nohup $!" >> "$out"
( sleep 1002 >/dev/null 2>&1 & echo "double $!" >> "$out" ) &
wait $!
echo ready
sleep 1000
