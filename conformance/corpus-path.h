/* SPDX-License-Identifier: MIT */
/* corpus-path.h - where the runner finds its fixture corpus when nothing says otherwise. */
#ifndef PIKACI_CORPUS_PATH_H
#define PIKACI_CORPUS_PATH_H

/*
 * The default corpus: the source tree's fixtures/ when this runner is the one in its build tree
 * (run uninstalled), else the installed $datadir/pikaci/fixtures. PIKACI_FIXTURES and --fixtures
 * override it. The string is static; never NULL.
 */
const char *corpus_default_path(void);

#endif
