#!/bin/bash
# The options each command accepts (its getopt table in cli/cmd_*.c, with
# the PSM_CLI_*_OPTIONS macros of cli/cli.h) are all in 'p11smime CMD
# --help' and in the command's part of docs/p11smime.1, and --help names
# no option the command lacks: so that they cannot drift apart. The global
# options (PSM_CLI_GLOBAL_OPTIONS, accepted after every command too) are
# checked once, in 'p11smime --help' and GLOBAL OPTIONS. No token needed.
. "$top_srcdir/tests/integration/lib.sh"

python3 - "$top_srcdir" "$P11SMIME" >"$TMP/found" 2>"$TMP/pyerr" <<'EOF'
import glob, re, subprocess, sys

src, binary = sys.argv[1], sys.argv[2]

def read(path):
    with open(path) as f:
        return f.read()

def longopts(text):
    return set(re.findall(r'--([a-z0-9][a-z0-9-]*)', text))

def table_names(body, macros):
    names = []
    for line in body.splitlines():
        line = line.strip()
        m = re.match(r'\{ "([a-z0-9-]+)"', line)
        if m:
            names.append(m.group(1))
        m = re.match(r'(PSM_CLI_\w+_OPTIONS)', line)
        if m:
            names += macros[m.group(1)]
    return names

macros = {m.group(1): re.findall(r'\{ "([a-z0-9-]+)"', m.group(2))
          for m in re.finditer(r'#define (PSM_CLI_\w+_OPTIONS) \\\n((?:.*\\\n)*.*\n)',
                               read(src + '/cli/cli.h'))}
tables = {}
for path in sorted(glob.glob(src + '/cli/cmd_*.c')):
    for m in re.finditer(r'^psm_cmd_(\w+)\(.*?\n\{(.*?)\n\}', read(path), re.S | re.M):
        t = re.search(r'static const struct option opts\[\] = \{(.*?)\n\t\};', m.group(2), re.S)
        if t:
            tables[m.group(1).replace('_', '-')] = table_names(t.group(1), macros)
# one table for both (cli/main.c); the man page splits it in two sections
tables['sign-encrypt'] = tables['encrypt']
main_c = read(src + '/cli/main.c')
t = re.search(r'global_opts\[\] = \{(.*?)\n\};', main_c, re.S)
global_names = table_names(t.group(1), macros)
dispatched = re.findall(r'strcmp\(cmd, "([a-z0-9-]+)"\) == 0', main_c)

# the man page, without font changes and escapes
man = read(src + '/docs/p11smime.1')
man = re.sub(r'\\f[BIRP]', '', man.replace('\\%', '').replace('\\-', '-'))
lines = man.split('\n')
start, end = lines.index('.SH COMMANDS'), lines.index('.SS JSON output')
heads = [(i, lines[i].split(' ')[0]) for i in range(start, end)
         if lines[i - 1].startswith('.TP') and lines[i].split(' ')[0] in tables]
section = {}
for k, (i, cmd) in enumerate(heads):
    section[cmd] = '\n'.join(lines[i:heads[k + 1][0] if k + 1 < len(heads) else end])
gsection = man.split('.SH GLOBAL OPTIONS', 1)[1].split('\n.SH ', 1)[0]

def helptext(*args):
    return subprocess.run([binary, *args, '--help'], capture_output=True, text=True).stdout

skip = set(macros['PSM_CLI_GLOBAL_OPTIONS']) | {'help'}
for cmd in dispatched:
    if cmd == 'help':
        continue
    opts = [o for o in tables.get(cmd, []) if o not in skip]
    h = helptext(cmd)
    # the man sections of encrypt and sign-encrypt share the table
    mtext = section.get(cmd, '')
    if cmd in ('encrypt', 'sign-encrypt'):
        mtext = section.get('encrypt', '') + section.get('sign-encrypt', '')
    # what --help names besides its options: 'p11smime csr --key URI' and the like
    named = longopts(re.sub(r"'p11smime [^']*'", '', h))
    print('\t'.join([cmd,
                     'table' if cmd in tables else '',
                     'man' if cmd in section else '',
                     ' '.join(o for o in opts if o not in longopts(h)),
                     ' '.join(o for o in opts if o not in longopts(mtext)),
                     ' '.join(sorted(named - set(tables.get(cmd, [])) - skip))]))
g = helptext()
print('\t'.join(['GLOBAL', 'table', 'man',
                 ' '.join(o for o in global_names if o not in longopts(g)),
                 ' '.join(o for o in global_names if o not in longopts(gsection)),
                 '']))
EOF
[ -s "$TMP/found" ] || { echo "1..0 # SKIP could not read the option tables"; diag <"$TMP/pyerr"; exit 99; }

plan $(($(wc -l <"$TMP/found") * 3))
while IFS=$'\t' read -r cmd table man no_help no_man extra; do
	printf '%s\n' "the table or the man section of $cmd was not found" >"$TMP/err"
	check "$cmd: its option table and its part of the man page were found" \
		eval '[ -n "$table" ] && [ -n "$man" ]'
	printf '%s\n' "not in --help: $no_help" "not in the man page: $no_man" >"$TMP/err"
	check "$cmd: every long option of its table is in its --help and in p11smime(1)" \
		[ -z "$no_help$no_man" ]
	printf '%s\n' "named by --help, not accepted: $extra" >"$TMP/err"
	check "$cmd: its --help names no option it does not accept" [ -z "$extra" ]
done <"$TMP/found"
done_testing
