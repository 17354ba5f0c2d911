#!/bin/sh
set -e
exec /app/server --port 8080
