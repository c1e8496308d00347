#!/bin/bash
echo "1..0 # SKIP RFC 7208 suite driver not written yet"
