# review: the build about to ship is the one that passed the tests.
set -eu
read -r built < build.number
tested=none
if [ -f tested ]; then read -r tested < tested; fi
if [ "$tested" != "$built" ]; then
	echo "review: build $built is not the tested one ($tested)" >&2
	exit 1
fi
echo "review: build $built passed its tests: ready to ship"
