#!/usr/bin/env bash
# free-port.sh: prints a TCP port on 127.0.0.1 that nothing listens on (for test and bench clusters).
while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; exit 0; }
done
