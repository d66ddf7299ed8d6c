/*
 * env_int.h - what env.c shares with env_sleep.c, and nobody else.
 */
#ifndef PV_ENV_INT_H
#define PV_ENV_INT_H

#include "env.h"

const struct pv_env_git *pv_env_git(const struct pv_envs *envs);
void pv_env_kick(struct pv_envs *envs);

/* PV_EFORBIDDEN unless actor may change environments. */
int pv_env_check_writer(const struct pv_actor *actor) PV_WARN_UNUSED;

/* Merged values render within PREVIEWD_MAX_VALUES_BYTES as YAML Helm reads
 * back the same (PV_EINVAL on "values"). */
int pv_env_check_values(const struct pv_envs *envs, const json_t *values) PV_WARN_UNUSED;

/* env->sleep_values_json from env->values_json and its overlay, inside the
 * caller's transaction on st. */
int pv_env_sleep_values(struct pv_envs *envs, struct pv_store *st, struct pv_env *env) PV_WARN_UNUSED;

#endif
