/**
 * Application groups: names a tenant may select instead of listing applications.
 * Group names match case-insensitively; application names are case-sensitive.
 */
export const APPLICATION_GROUPS: Readonly<Record<string, readonly string[]>> = {
  API: ['kube-apiserver', 'openshift-apiserver'],
  Authentication: ['oauth-openshift', 'openshift-oauth-apiserver'],
  'Controller Manager': [
    'kube-controller-manager',
    'openshift-controller-manager',
    'openshift-route-controller-manager',
  ],
  Scheduler: ['kube-scheduler'],
};

const BY_LOWER_NAME = new Map(
  Object.entries(APPLICATION_GROUPS).map(([name, apps]) => [name.toLowerCase(), apps] as const),
);

/** The members of a group, or undefined for an unknown group. */
export function groupMembers(name: string): readonly string[] | undefined {
  return BY_LOWER_NAME.get(name.trim().toLowerCase());
}

/** The canonical names of all groups. */
export function groupNames(): string[] {
  return Object.keys(APPLICATION_GROUPS);
}
