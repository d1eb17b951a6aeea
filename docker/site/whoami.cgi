#!/bin/sh
# An application that did its own login: it names the user in a header.
printf 'Content-Type: text/plain\r\nX-Remote-User: alice\r\nX-Auth-Type: Session\r\n\r\nhello from the app\n'
