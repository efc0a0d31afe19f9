# build: the program greet from src/greet.sh, stamped with a build number
# (build.number counts the builds).
set -eu
n=0
if [ -f build.number ]; then read -r n < build.number; fi
n=$((n + 1))
{
	printf '# greet, build %s\n' "$n"
	while IFS= read -r line; do printf '%s\n' "$line"; done < src/greet.sh
} > greet
printf '%s\n' "$n" > build.number
echo "build $n: greet from src/greet.sh"
