# test: the built greet says hello.  On a pass, tested holds the build
# number (review reads it).  A file "failures" holding N makes the next N
# runs fail as a broken test would: the example's system test uses it to
# show the crew's loop back to build and its escalation.
set -eu
if [ ! -f greet ]; then
	echo "FAIL: no greet to test (make build failed?)" >&2
	exit 1
fi
. ./greet
out=$(greet crew)
left=0
if [ -f failures ]; then read -r left < failures; fi
if [ "$left" -gt 0 ]; then
	printf '%s\n' $((left - 1)) > failures
	out="helo, crew"
fi
if [ "$out" != "hello, crew" ]; then
	echo "FAIL greet: expected \"hello, crew\", got \"$out\"" >&2
	exit 1
fi
n=0
read -r n < build.number
printf '%s\n' "$n" > tested
echo "ok greet: $out (build $n)"
