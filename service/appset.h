/*
 * appset.h - `previewd print-applicationset`: the Argo CD ApplicationSet
 * that deploys what this configuration writes (one Application per folder
 * in ENV_DIR, the chart next to it).  Pure; any thread.
 */
#ifndef PV_APPSET_H
#define PV_APPSET_H

#include "config.h"
#include "error.h"
#include "strbuf.h"

/* The ApplicationSet as YAML, appended to out. */
int pv_appset_print(const struct pv_config *cfg, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
