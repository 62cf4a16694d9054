#!/bin/bash
# Asks for a password until it matches $EXPECTED (like sudo/mysql do), with no newline after the
# prompt. Echoes what it read when ECHO_BACK=1, so redaction of echoed answers can be tested.
tries=0
while true; do
    printf 'Password: '
    read -r answer || exit 2
    [ "${ECHO_BACK:-0}" = 1 ] && echo "you typed: $answer"
    if [ "$answer" = "$EXPECTED" ]; then
        echo "welcome"
        exit 0
    fi
    echo "Sorry, try again."
    tries=$((tries + 1))
    [ "$tries" -ge "${MAX_TRIES:-100}" ] && exit 1
done
