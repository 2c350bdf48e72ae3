import { describe, expect, it } from 'vitest';
import { APPLICATION_GROUPS, groupMembers, groupNames } from '../../src/domain/groups.js';

/** The groups as the spec states them. */
const SPEC_GROUPS: Record<string, string[]> = {
  API: ['kube-apiserver', 'openshift-apiserver'],
  Authentication: ['oauth-openshift', 'openshift-oauth-apiserver'],
  'Controller Manager': [
    'kube-controller-manager',
    'openshift-controller-manager',
    'openshift-route-controller-manager',
  ],
  Scheduler: ['kube-scheduler'],
};

describe('groupNames', () => {
  it('lists exactly the four groups by their canonical names', () => {
    // Prepare
    // Act
    const names = groupNames();

    // Assess
    expect(names.sort()).toEqual(['API', 'Authentication', 'Controller Manager', 'Scheduler']);
    expect(Object.keys(APPLICATION_GROUPS).sort()).toEqual(names);
  });
});

describe('groupMembers', () => {
  it.each(Object.entries(SPEC_GROUPS))('gives the members of %s', (name, members) => {
    // Prepare
    // Act
    const result = groupMembers(name);
    // Assess
    expect(result).toEqual(members);
  });

  it.each([
    { name: 'api', group: 'API' },
    { name: 'Api', group: 'API' },
    { name: 'AUTHENTICATION', group: 'Authentication' },
    { name: 'CONTROLLER MANAGER', group: 'Controller Manager' },
    { name: 'controller manager', group: 'Controller Manager' },
    { name: 'sCHEDULER', group: 'Scheduler' },
  ])('matches the group name $name case-insensitively', ({ name, group }) => {
    // Prepare
    // Act
    const result = groupMembers(name);
    // Assess
    expect(result).toEqual(SPEC_GROUPS[group]);
  });

  it.each([
    { name: 'Nope' },
    { name: '' },
    { name: 'ControllerManager' },
    { name: 'controller-manager' },
    { name: 'kube-apiserver' },
  ])('returns undefined for the unknown group $name', ({ name }) => {
    // Prepare
    // Act
    const result = groupMembers(name);
    // Assess
    expect(result).toBeUndefined();
  });
});
